"""The end-to-end part: a Llama-2-7B prefill whose attention is the system under test (Fig. 12, e2e)."""
