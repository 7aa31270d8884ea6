"""The pure core: model, schema, signing and acceptance rules. No I/O beyond package data."""
