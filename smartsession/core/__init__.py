"""Pure core: no I/O, no clock reads. Time is always passed in."""
