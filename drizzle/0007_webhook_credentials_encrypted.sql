ALTER TABLE "workflows" ALTER COLUMN "webhook_token" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "webhook_token_hash" text;--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "webhook_token_ciphertext" "bytea";--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "webhook_secret_ciphertext" "bytea";--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "previous_webhook_token_hash" text;--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "previous_webhook_secret_ciphertext" "bytea";--> statement-breakpoint
ALTER TABLE "workflows" ADD CONSTRAINT "workflows_webhook_token_hash_unique" UNIQUE("webhook_token_hash");--> statement-breakpoint
ALTER TABLE "workflows" ADD CONSTRAINT "workflows_previous_webhook_token_hash_unique" UNIQUE("previous_webhook_token_hash");