// Package quality measures generated text the way the diffusion-LM papers do: generative
// perplexity under an autoregressive judge, distinct-n, memorisation of training n-grams and
// network calls per token, with real text as the reference row, and writes the table and plot.
package quality
