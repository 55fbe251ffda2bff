"""Textual widgets that draw what they are given: no I/O, no engine calls."""
