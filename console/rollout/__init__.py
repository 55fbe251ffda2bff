"""The rollout engine's parts: typed outcomes, the fence every write passes, the driver.

`console.engine.Engine` is the entry point (headless, TUI and scripts); the modules here hold
what it is built from and what callers match on (`ExitCode`, `EventKind`, the fence errors).
"""
