"""Encoders and heads. `make_encoder(config)` is the entry point."""

from darts_rl.networks.encoders import ENCODERS, Encoder, EncoderSpec, make_encoder
