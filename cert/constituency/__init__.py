"""The constituency: the ministries and agencies a CERT serves, their networks and focal points."""
