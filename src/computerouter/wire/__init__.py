"""What the HTTP API and the SDK share: the error table, the request/response models and the
event encoding. Nothing here does I/O or imports a web framework, so the SDK stays light and
both sides are built from one definition."""
