"""The vSphere layer: agent sessions, serialisation, property collection, task methods."""
