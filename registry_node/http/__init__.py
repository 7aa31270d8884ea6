"""The HTTP edge: thin handlers that parse a request, call a service and render the answer."""
