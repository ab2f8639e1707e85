package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
)

// ContinuousResult is the -json line for a continuous diffusion model.
type ContinuousResult struct {
	Kind        string             `json:"kind"` // "continuous"
	Schedule    string             `json:"schedule"`
	Latents     string             `json:"latents"`
	DecoderAcc  map[string]float64 `json:"decoder_accuracy"` // by time: "0" (clean latents), "0.15", ...
	DenoiserMSE map[string]float64 `json:"denoiser_mse"`     // by time, per latent value (normalised latents)
	Tokens      int                `json:"tokens"`
	Model       string             `json:"model"`
	Data        string             `json:"data"`
	Seconds     float64            `json:"seconds"`
}

// decoderTimes and denoiserTimes are where the two networks are measured: the decoder on
// clean latents (TEncDM's check: near 100%) and at the edge of its training noise (0.15)
// and beyond; the denoiser across the reverse process.
var (
	decoderTimes  = []float64{0, 0.05, 0.15, 0.3}
	denoiserTimes = []float64{0.1, 0.3, 0.5, 0.7, 0.9}
)

func evalContinuous(l *cli.Loaded, path, data string, maxTokens, batch int, seed uint64, asJSON bool, stdout, stderr io.Writer) error {
	cm := l.Continuous
	st, docs, err := cli.Stream(l.Tok, data, "val")
	if err != nil {
		return err
	}
	L := cm.Denoiser.Cfg.SeqLen
	windows, _ := cli.ValWindows(st, L, maxTokens, l.Tok.EOT())
	if len(windows) == 0 {
		return fmt.Errorf("%s: fewer than %d tokens", docs[0].Name, L)
	}
	start := time.Now()
	res := ContinuousResult{Kind: "continuous", Schedule: cm.Schedule.Name(), Latents: cm.Space.Kind, Tokens: len(windows) * L,
		Model: path, Data: docs[0].Name, DecoderAcc: map[string]float64{}, DenoiserMSE: map[string]float64{}}
	for _, t := range decoderTimes {
		acc, err := cm.DecoderAccuracy(windows, t, seed, batch)
		if err != nil {
			return err
		}
		res.DecoderAcc[fmt.Sprint(t)] = acc
		fmt.Fprintf(stderr, "decoder accuracy at t=%-4g %.4f\n", t, acc)
	}
	for _, t := range denoiserTimes {
		mse, err := cm.DenoiseMSE(windows, t, seed, batch)
		if err != nil {
			return err
		}
		res.DenoiserMSE[fmt.Sprint(t)] = mse
		fmt.Fprintf(stderr, "denoiser MSE at t=%-4g %.4f (a=%.4f)\n", t, mse, cm.Schedule.Alpha(t))
	}
	res.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(stderr, "continuous (%s, %s latents) on %d tokens of %s (%.1fs)\n", res.Schedule, res.Latents, res.Tokens, res.Data, res.Seconds)
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "kind=continuous decoder_acc_clean=%.4f decoder_acc_0.15=%.4f mse_0.5=%.4f tokens=%d\n",
		res.DecoderAcc["0"], res.DecoderAcc["0.15"], res.DenoiserMSE["0.5"], res.Tokens)
	return nil
}
