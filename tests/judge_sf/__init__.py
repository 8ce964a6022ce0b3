"""An independent judge: a minimal SuccessFactors of its own, driven through Tandem's CLI."""
