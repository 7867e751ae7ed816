"""REST blueprints: each module exports `bp`."""
