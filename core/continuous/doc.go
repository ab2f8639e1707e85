// Package continuous implements Gaussian diffusion on normalised encodings (TEncDM): the variance-preserving forward process, its noise schedules and the per-dimension statistics of the encoder.
package continuous
