CREATE TABLE "mentions" (
	"user_id" text NOT NULL,
	"conversation_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"message_id" uuid NOT NULL,
	CONSTRAINT "mentions_user_id_conversation_id_seq_pk" PRIMARY KEY("user_id","conversation_id","seq")
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "mentions" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "participants" ADD COLUMN "own_read_seq" integer;--> statement-breakpoint
ALTER TABLE "participants" ADD COLUMN "sent_since_read" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "mentions" ADD CONSTRAINT "mentions_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mentions" ADD CONSTRAINT "mentions_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mentions_message_idx" ON "mentions" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "messages_deleted_idx" ON "messages" USING btree ("conversation_id","seq","sender_id") WHERE "messages"."deleted_at" is not null;--> statement-breakpoint
-- Participants' own messages above their watermark, for unread counts that no longer count messages.
UPDATE "participants" p SET "sent_since_read" = (SELECT count(*) FROM "messages" m WHERE m."conversation_id" = p."conversation_id" AND m."sender_id" = p."user_id" AND m."seq" > p."last_read_seq") WHERE EXISTS (SELECT 1 FROM "messages" m WHERE m."conversation_id" = p."conversation_id" AND m."sender_id" = p."user_id" AND m."seq" > p."last_read_seq");
