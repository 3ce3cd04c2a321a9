

BprobsJj/.s0ô)N&u Ò3Ä1ˆ0