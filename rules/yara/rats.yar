/*
   Remote access trojans and post-exploitation implants common in intrusions against
   administrations: njRAT, Remcos, QuasarRAT, DarkComet, Cobalt Strike beacon.
   Strings are the families' own, as documented in public analyses; matched in files and memory
   dumps dropped in the watched folder or uploaded to a case. Vigie project, Apache-2.0.
*/

rule RAT_njRAT
{
    meta:
        author = "Vigie project"
        description = "njRAT / Bladabindi: command separator, firewall exception and self-delete strings"
        reference = "https://attack.mitre.org/software/S0385/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $sep = "|'|'|" ascii wide
        $fw = "netsh firewall add allowedprogram" nocase ascii wide
        $del = "cmd.exe /c ping 0 -n 2 & del" nocase ascii wide
        $zone = "SEE_MASK_NOZONECHECKS" ascii wide
    condition:
        filesize < 10MB and 2 of them
}

rule RAT_Remcos
{
    meta:
        author = "Vigie project"
        description = "Remcos RAT: mutex, vendor and keylogger strings"
        reference = "https://attack.mitre.org/software/S0332/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $mutex = "Remcos_Mutex_Inj" ascii wide
        $vendor = "Breaking-Security.Net" nocase ascii wide
        $agent = /Remcos v\d/ nocase ascii wide
        $log = "[Following text has been pasted from clipboard:]" ascii wide
    condition:
        filesize < 10MB and 2 of them
}

rule RAT_QuasarRAT
{
    meta:
        author = "Vigie project"
        description = "QuasarRAT client: namespaces and messages of the open-source RAT"
        reference = "https://attack.mitre.org/software/S0262/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $ns1 = "Quasar.Client" ascii wide
        $ns2 = "Quasar.Common" ascii wide
        $ns3 = "xClient.Core" ascii wide
        $msg1 = "GetKeyloggerLogsDirectory" ascii wide
        $msg2 = "DoShellExecuteResponse" ascii wide
    condition:
        filesize < 10MB and ((1 of ($ns*)) and (1 of ($msg*)))
}

rule RAT_DarkComet
{
    meta:
        author = "Vigie project"
        description = "DarkComet RAT: configuration marker and mutex prefix"
        reference = "https://attack.mitre.org/software/S0334/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $cfg = "#KCMDDC51#" ascii wide
        $mutex = "DC_MUTEX-" ascii wide
        $bot = "#BOT#URLUpdate" ascii wide
        $bot2 = "#BOT#VisitUrl" ascii wide
    condition:
        filesize < 10MB and 2 of them
}

rule Implant_CobaltStrike_Beacon
{
    meta:
        author = "Vigie project"
        description = "Cobalt Strike beacon: reflective loader and beacon format strings"
        reference = "https://attack.mitre.org/software/S0154/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $dll1 = "beacon.dll" ascii
        $dll2 = "beacon.x64.dll" ascii
        $loader = "ReflectiveLoader" ascii
        $fmt1 = "%s as %s\\%s: %d" ascii
        $fmt2 = "%02d/%02d/%02d %02d:%02d:%02d" ascii
        $fmt3 = "%s (admin)" ascii
        $pipe = "\\\\.\\pipe\\msagent_" ascii
    condition:
        filesize < 20MB and (1 of ($dll*)) and 2 of ($loader, $fmt*, $pipe)
}
