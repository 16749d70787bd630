/*
   Ransom notes: the text files ransomware leaves in every folder it encrypted (ATT&CK T1486).
   A note needs an "encrypted" statement and a payment or contact instruction; English and French.
   Vigie project, Apache-2.0.
*/

rule Ransomware_Note_Generic
{
    meta:
        author = "Vigie project"
        description = "Ransom note: files declared encrypted, with payment or Tor contact instructions"
        reference = "https://attack.mitre.org/techniques/T1486/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $enc_en1 = "your files have been encrypted" nocase ascii wide
        $enc_en2 = "all your files are encrypted" nocase ascii wide
        $enc_en3 = "your files are encrypted" nocase ascii wide
        $enc_en4 = "your network has been" nocase ascii wide
        $enc_en5 = "all of your files have been encrypted" nocase ascii wide
        $enc_fr = /vos fichiers (importants )?(ont [^\r\n]{2,6} |sont )(chiffr|crypt)/ nocase ascii
        $pay_btc = /\b(bitcoin|BTC|monero|XMR)\b/ nocase ascii wide
        $pay_wallet = /\bbc1q[ac-hj-np-z02-9]{38,58}\b/ ascii wide
        $pay_decrypt = /(decrypt(ion|or)? (tool|software|key)|private key|unique key|déchiffr|dechiffr|rançon|rancon)/ nocase ascii
        $tor_onion = /[a-z2-7]{16}([a-z2-7]{40})?\.onion/ nocase ascii wide
        $tor_browser = "tor browser" nocase ascii wide
        $warn = /do not (rename|modify|try to decrypt)|ne (renommez|modifiez) pas/ nocase ascii
    condition:
        filesize < 200KB and any of ($enc_*) and 2 of ($pay_*, $tor_*, $warn)
}
