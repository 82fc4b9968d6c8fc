-- Every change to prompts or keys is announced on the channel promptd_changes, so that every
-- promptd instance on this database refreshes its in-memory copy within milliseconds.
-- Payloads: 'prompt:<prompt_id>' or 'keys'. Triggers also catch writes made by other tools.
CREATE OR REPLACE FUNCTION promptd_notify_prompt() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('promptd_changes', 'prompt:' || OLD.prompt_id);
    ELSE
        PERFORM pg_notify('promptd_changes', 'prompt:' || NEW.prompt_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER prompt_versions_notify
    AFTER INSERT OR UPDATE OR DELETE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION promptd_notify_prompt();

CREATE OR REPLACE FUNCTION promptd_notify_keys() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('promptd_changes', 'keys');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_notify
    AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION promptd_notify_keys();
