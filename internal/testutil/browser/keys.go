package browser

import (
	"context"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestID selects the element with data-testid="name".
func TestID(name string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + name + `"]`) }

// TypeKeys types s into the focused element one key at a time, as a
// person does ("\r" is Enter). chromedp's own KeyEvent types every
// character twice into xterm.js, which listens to both keydown and input.
func TypeKeys(s string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range s {
			if err := PressKey(ctx, t, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// PressKey sends one key down (with its text) and up.
func PressKey(ctx context.Context, t *chromedp.Target, r rune) error {
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Text: string(r), UnmodifiedText: string(r), Key: string(r)}
	if r == '\r' {
		down.Key, down.Code, down.WindowsVirtualKeyCode, down.NativeVirtualKeyCode = "Enter", "Enter", 13, 13
	}
	if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
		return err
	}
	up := down
	up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
	_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
	return err
}
