"""Event schemas: the one envelope, the payload models and the registry. Imports nothing else of ours."""
