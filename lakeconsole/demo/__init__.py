"""The synthetic market feed behind `--demo` and `lakeconsole simulate`."""
