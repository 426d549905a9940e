"""The public plugin API: everything a sensor or controller author imports, from one place."""
