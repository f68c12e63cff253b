"""darts-rl: differentiable architecture search for RL image encoders (JAX/Flax)."""
