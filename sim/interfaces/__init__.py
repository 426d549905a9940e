"""The plugin interfaces: what sensors and controllers implement and exchange (readings, inputs, commands, payloads)."""
