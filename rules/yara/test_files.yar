/*
   Test files, to check the scanning pipeline end to end without real malware.
   The EICAR string is split in two so that this rule file is not itself a test file.
   Vigie project, Apache-2.0.
*/

rule Test_EICAR_File
{
    meta:
        author = "Vigie project"
        description = "EICAR anti-malware test file (harmless; used to test scanners)"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        severity = "low"
        date = "2026-11-21"
    strings:
        $head = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" ascii
        $tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*" ascii
    condition:
        $head at 0 and $tail and filesize < 256
}
