"""The embedded stack on one machine: Label Studio, the ML backend, and the wiring between them."""
