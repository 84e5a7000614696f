"""Where chunks run. Each backend offers `run(plan, chunks, runs_dir, campaign_id, events)`."""
