package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

// sendTestTimeout bounds the one message of send-test.
const sendTestTimeout = 60 * time.Second

// NewCampaignSendTestCommand returns "pi-crm campaign send-test": one message
// through a workspace's provider, for checking a set-up on the Pi (the same
// opener the sending engine uses; outbox messages are marked as tests).
func NewCampaignSendTestCommand(app core.App) *cobra.Command {
	var workspace, provider, to string
	c := &cobra.Command{
		Use:          "send-test --workspace ID|NAME --to ADDRESS [--provider NAME]",
		Short:        "Send one test message through a workspace's provider (default: the workspace's default provider)",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			ws, err := findWorkspace(app, workspace)
			if err != nil {
				return err
			}
			if provider == "" {
				provider = providers.Default(app, ws)
			}
			snd, _, err := providers.Open(app, ws, provider)
			if err != nil {
				return err
			}
			defer snd.Close()
			m := senders.Message{Workspace: ws, Channel: snd.Channel(), To: to, Test: true,
				Subject: "pi-crm test message", Text: "This is a test message from pi-crm (" + provider + ").",
				HTML:    "<p>This is a test message from pi-crm (" + provider + ").</p>",
				Headers: map[string]string{"X-PiCRM-Test": "1"}}
			ctx, cancel := context.WithTimeout(c.Context(), sendTestTimeout)
			defer cancel()
			start := time.Now()
			var res senders.Result
			if tx, ok := snd.(senders.TxSender); ok {
				res, err = tx.SendTx(app, m)
			} else {
				res, err = snd.Send(ctx, m)
			}
			if err != nil {
				return fmt.Errorf("%s refused the message: %w", provider, err)
			}
			fmt.Fprintf(c.OutOrStdout(), "sent through %s to %s in %d ms (provider id %s)\n", provider, to, time.Since(start).Milliseconds(), res.ProviderMessageID)
			return nil
		},
	}
	c.Flags().StringVar(&workspace, "workspace", "", "workspace id or name (required)")
	c.Flags().StringVar(&provider, "provider", "", "outbox or smtp (default: the workspace's default provider)")
	c.Flags().StringVar(&to, "to", "", "the address to send to (required)")
	_ = c.MarkFlagRequired("workspace")
	_ = c.MarkFlagRequired("to")
	return c
}
