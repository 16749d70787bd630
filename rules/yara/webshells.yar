/*
   Web shells: server-side scripts that run attacker commands on a compromised web server
   (ATT&CK T1505.003). Government portals running PHP, ASP.NET or Java are the usual targets.
   Vigie project, Apache-2.0.
*/

rule Webshell_PHP_Eval_Of_Decoded_Or_Request_Data
{
    meta:
        author = "Vigie project"
        description = "PHP script that evaluates decoded data or executes a request parameter (web shell)"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        severity = "high"
        date = "2026-11-21"
    strings:
        $php = "<?php" nocase
        $php_short = "<?=" 
        $eval_decode = /(eval|assert)\s*\(\s*(@\s*)?(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin)\s*\(/ nocase
        $exec_request = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*(@\s*)?\$_(POST|GET|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $create_function = /create_function\s*\(\s*['"]{2}\s*,\s*(base64_decode|\$_(POST|GET|REQUEST))/ nocase
        $preg_e = /preg_replace\s*\(\s*['"][^'"]{1,40}\/[a-z]*e[a-z]*['"]\s*,\s*\$_(POST|GET|REQUEST)/ nocase
    condition:
        filesize < 2MB and ($php or $php_short) and any of ($eval_decode, $exec_request, $create_function, $preg_e)
}

rule Webshell_China_Chopper
{
    meta:
        author = "Vigie project"
        description = "China Chopper one-line web shell (ASPX or PHP client stub)"
        reference = "https://attack.mitre.org/software/S0020/"
        severity = "critical"
        date = "2026-11-21"
    strings:
        $aspx = /<%@\s*Page\s+Language\s*=\s*"?Jscript"?\s*%>\s*<%\s*eval\s*\(\s*Request\.Item\s*\[/ nocase
        $aspx_unsafe = /eval\s*\(\s*Request\.Item\s*\[\s*"[^"]{1,40}"\s*\]\s*,\s*"unsafe"\s*\)/ nocase
        $php = /<\?php\s+@eval\s*\(\s*\$_POST\s*\[\s*['"][^'"]{1,40}['"]\s*\]\s*\)\s*;?\s*\?>/ nocase
    condition:
        filesize < 200KB and any of them
}

rule Webshell_ASPX_Command_Execution
{
    meta:
        author = "Vigie project"
        description = "ASP.NET page that starts a process with a command taken from the request"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        severity = "high"
        date = "2026-11-21"
    strings:
        $page = "<%@" ascii
        $process = "System.Diagnostics.Process" ascii nocase
        $start_info = "ProcessStartInfo" ascii nocase
        $request = /Request(\.Form|\.QueryString|\.Item|\.Params)?\s*\[/ nocase
        $cmd = /cmd(\.exe)?\s*\/c/ nocase
        $redirect = "RedirectStandardOutput" nocase
    condition:
        filesize < 1MB and $page and ($process or $start_info) and $request and ($cmd or $redirect)
}

rule Webshell_JSP_Runtime_Exec_Of_Request_Parameter
{
    meta:
        author = "Vigie project"
        description = "JSP page that runs a request parameter with Runtime.exec (web shell)"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        severity = "high"
        date = "2026-11-21"
    strings:
        $exec = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(\s*request\s*\.\s*getParameter\s*\(/ nocase
        $builder = /new\s+ProcessBuilder\s*\([^)]{0,60}request\s*\.\s*getParameter/ nocase
    condition:
        filesize < 1MB and any of them
}
