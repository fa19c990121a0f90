"""The Textual console: the only package of lakeconsole that imports textual."""
