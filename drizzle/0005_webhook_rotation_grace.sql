ALTER TABLE "workflows" ADD COLUMN "previous_webhook_token" text;--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "previous_webhook_secret" text;--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "previous_webhook_expires_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "workflows" ADD CONSTRAINT "workflows_previous_webhook_token_unique" UNIQUE("previous_webhook_token");