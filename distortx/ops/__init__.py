"""Python face of the native ops: each op has a pure-PyTorch reference path and ``impl="auto"|"native"|"python"``."""
