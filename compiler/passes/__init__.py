"""Graph -> Graph transforms: the rewrite engine and the rule tables of each pipeline step."""
