"""User-level operations on trained models: generation, inpainting (and more)."""
