"""The core layer: errors, frames, exact time, events and cancellation, and the parameter model.
It imports nothing else of vidlab, so every other layer may build on it."""
