"""What labeled tasks tell: datasets, the agreement and win-rate report (text and HTML), statistics (pure)."""
