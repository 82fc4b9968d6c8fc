-- A new version is announced with its number ('version:<prompt_id> <environment> <version>'),
-- so an instance that already has it (its own write) does nothing, and another instance reads
-- that one row instead of the whole prompt. Other changes (trash, restore, purge, edits by
-- other tools) still say 'prompt:<prompt_id>': re-read the prompt.
CREATE OR REPLACE FUNCTION promptd_notify_prompt() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('promptd_changes', 'prompt:' || OLD.prompt_id);
    ELSIF TG_OP = 'INSERT' AND NEW.deleted_at IS NULL THEN
        PERFORM pg_notify('promptd_changes',
            'version:' || NEW.prompt_id || ' ' || NEW.environment || ' ' || NEW.version);
    ELSE
        PERFORM pg_notify('promptd_changes', 'prompt:' || NEW.prompt_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
