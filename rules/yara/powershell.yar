/*
   PowerShell and LOLBin download cradles: a script or command line that fetches and runs a
   second stage (ATT&CK T1059.001, T1105). Scanned in files and in event payloads such as
   powershell.file.script_block_text (event 4104) and process.command_line.
   Vigie project, Apache-2.0.
*/

rule PowerShell_Download_Cradle
{
    meta:
        author = "Vigie project"
        description = "PowerShell downloads content from the network and executes it (download cradle)"
        reference = "https://attack.mitre.org/techniques/T1059/001/"
        severity = "high"
        date = "2026-11-21"
    strings:
        $webclient = /New-Object\s+(System\.)?Net\.WebClient/ nocase ascii wide
        $download = /\.Download(String|Data|File)(Async)?\s*\(/ nocase ascii wide
        $iex = /\b(IEX|Invoke-Expression)\b/ nocase ascii wide
        $iwr_pipe = /\b(Invoke-WebRequest|iwr|Invoke-RestMethod|irm|curl|wget)\b[^\r\n|]{1,300}\|\s*(IEX|Invoke-Expression)\b/ nocase ascii wide
        $iex_iwr = /\b(IEX|Invoke-Expression)\s*\(\s*(Invoke-WebRequest|iwr|Invoke-RestMethod|irm)\b/ nocase ascii wide
        $xmlhttp = /New-Object\s+-ComObject\s+['"]?(Msxml2\.XMLHTTP|Microsoft\.XMLHTTP|WinHttp\.WinHttpRequest)/ nocase ascii wide
    condition:
        ($webclient and $download and $iex) or $iwr_pipe or $iex_iwr or ($xmlhttp and $iex)
}

rule PowerShell_Encoded_Hidden_Command
{
    meta:
        author = "Vigie project"
        description = "PowerShell started hidden, without profile, with a long base64 encoded command"
        reference = "https://attack.mitre.org/techniques/T1027/010/"
        severity = "medium"
        date = "2026-11-21"
    strings:
        $enc = /powershell(\.exe)?["']?\s[^\r\n]{0,120}\s[-\/]e(nc|ncodedcommand|ncodedcomman|ncodedcomma|ncodedcomm|ncodedcom|ncodedco|ncodedc|ncoded|ncode|nco)?\s+[A-Za-z0-9+\/=]{60,}/ nocase ascii wide
        $hidden = /[-\/]w(i|in|ind|indo|indow|indows|indowst|indowsty|indowstyl|indowstyle)?\s+hidden\b/ nocase ascii wide
        $noprofile = /\s[-\/]nop(rofile|rofil|rofi|rof|ro|r)?\b/ nocase ascii wide
    condition:
        $enc and ($hidden or $noprofile)
}

rule PowerShell_AMSI_Bypass
{
    meta:
        author = "Vigie project"
        description = "PowerShell tampers with the Antimalware Scan Interface (AMSI) to hide a payload"
        reference = "https://attack.mitre.org/techniques/T1562/001/"
        severity = "high"
        date = "2026-11-21"
    strings:
        $utils = "AmsiUtils" nocase ascii wide
        $failed = "amsiInitFailed" nocase ascii wide
        $scan = "AmsiScanBuffer" nocase ascii wide
        $patch = /(VirtualProtect|Marshal\]::Copy)/ nocase ascii wide
    condition:
        ($utils and $failed) or ($scan and $patch)
}

rule LOLBin_Certutil_Download
{
    meta:
        author = "Vigie project"
        description = "certutil used to download a file from the Internet (ingress tool transfer)"
        reference = "https://attack.mitre.org/techniques/T1105/"
        severity = "high"
        date = "2026-11-21"
    strings:
        $urlcache = /certutil(\.exe)?["']?\s[^\r\n]{0,60}[-\/]urlcache\s[^\r\n]{0,40}https?:\/\// nocase ascii wide
        $verifyctl = /certutil(\.exe)?["']?\s[^\r\n]{0,60}[-\/]verifyctl\s[^\r\n]{0,40}https?:\/\// nocase ascii wide
    condition:
        any of them
}
