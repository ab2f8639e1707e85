// Package sample runs the reverse process of masked diffusion (grids, remasking strategies,
// guidance, infilling, and exact speculative sampling with a draft) behind a Denoiser, and
// scores generated text (distinct-n, memorisation, judge perplexity).
package sample
