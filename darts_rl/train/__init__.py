"""Training: the shared loop, actors, evaluation, checkpoints."""
