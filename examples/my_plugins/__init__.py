"""An example plugin package: a battery sensor and a lidar wander controller.

Named in a scenario as ``type: examples.my_plugins.sensor:Battery`` and
``type: examples.my_plugins.controller:Wanderer``; see examples/plugin_demo.yaml.
"""
