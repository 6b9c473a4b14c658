"""The command-line interface: thin, it parses, calls the library and shows progress."""
