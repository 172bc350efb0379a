package main

import (
	"context"
	"errors"
)

func runMint(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func runVerify(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func runInspect(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
