"""The request and response models of the REST API, one module per area (``web.api_spec``)."""
