"""click commands only: parse, call the engine, print."""
