"""A run assembled from a scenario: the world, the sensors' producer threads, the controller threads."""
