ALTER TABLE "workflows" DROP CONSTRAINT "workflows_webhook_token_unique";--> statement-breakpoint
ALTER TABLE "workflows" DROP CONSTRAINT "workflows_previous_webhook_token_unique";--> statement-breakpoint
ALTER TABLE "workflows" ALTER COLUMN "webhook_token_hash" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "workflows" ALTER COLUMN "webhook_token_ciphertext" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "workflows" DROP COLUMN "webhook_token";--> statement-breakpoint
ALTER TABLE "workflows" DROP COLUMN "webhook_secret";--> statement-breakpoint
ALTER TABLE "workflows" DROP COLUMN "previous_webhook_token";--> statement-breakpoint
ALTER TABLE "workflows" DROP COLUMN "previous_webhook_secret";