"""The Flask console and REST API. Routes are thin: parse, call ``cert`` services, render."""
