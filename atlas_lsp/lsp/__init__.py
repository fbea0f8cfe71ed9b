"""The only package that speaks LSP: thin handlers that read params, call a service and convert back."""
