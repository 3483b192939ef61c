-- What tls and https checks saw of the certificate (Unix seconds of its
-- NotAfter), and what cdn checks saw of the edge (JSON); NULL otherwise, at
-- the cost of one header byte per row.
ALTER TABLE results ADD COLUMN cert_expiry INTEGER;
ALTER TABLE results ADD COLUMN edge TEXT;
