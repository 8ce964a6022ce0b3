"""Static tables behind the demo-data generator (:mod:`plugin.demo`).

Names, sites, the division/department catalogue and the reverse-mentoring skills of a
fictitious, believable industrial company headquartered in Munich. Pure data: no
randomness and no database access here, so the tables can be reviewed on their own.

Names are grouped by *culture* (a naming tradition, not a nationality); each site mixes
cultures with weights, so a Munich site is mostly German names with a realistic share of
Turkish, Polish, Italian, Croatian … names, while Pune is almost entirely Indian names.
No table holds or implies a birth date or an age (DESIGN §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.models import SkillCategory

__all__ = [
    "CULTURES",
    "DIVISIONS",
    "LOCATIONS",
    "SKILLS",
    "Culture",
    "Department",
    "Division",
    "Location",
    "SkillDef",
]


@dataclass(frozen=True)
class Culture:
    """A naming tradition: given names by gender, family names, a heritage language.

    Attributes:
        male: Given names usually borne by men.
        female: Given names usually borne by women.
        family: Family names.
        language: ISO 639-1 code people of this tradition often speak at home.
        feminine_suffix: True where family names take a feminine form (-ski → -ska).
        double_family: Share of people with two family names (Spanish naming).
    """

    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]
    language: str
    feminine_suffix: bool = False
    double_family: float = 0.0


@dataclass(frozen=True)
class Location:
    """A site of the company.

    Attributes:
        name: City name as HR writes it.
        country: ISO 3166-1 alpha-2 code.
        time_zone: IANA time zone.
        languages: Languages nearly everyone at the site speaks (local first).
        extra_languages: Further languages some people speak, with their share.
        cultures: Naming traditions of the site's staff, with weights.
        weight: Relative headcount of the site.
        student_title: How a working student is called there.
    """

    name: str
    country: str
    time_zone: str
    languages: tuple[str, ...]
    extra_languages: tuple[tuple[str, float], ...]
    cultures: tuple[tuple[str, float], ...]
    weight: float
    student_title: str = "Working Student"


@dataclass(frozen=True)
class Department:
    """A department: its share of its division, job roles, team names and sites.

    Attributes:
        name: Department name.
        share: Share of the division's headcount.
        roles: Individual-contributor job roles (``Junior``/``Senior`` are prefixed).
        teams: Team names for team leads.
        locations: Sites with weights; the first is where the department is led from.
        digital: How digital the daily work is, -1 (shop floor) … +1 (software).
        principal: True where grade-6 experts are called ``Principal`` (else ``Lead``).
    """

    name: str
    share: float
    roles: tuple[str, ...]
    teams: tuple[str, ...]
    locations: tuple[tuple[str, float], ...]
    digital: float = 0.0
    principal: bool = False


@dataclass(frozen=True)
class Division:
    """A division led by a vice president.

    Attributes:
        name: Division name.
        share: Share of the company's headcount.
        seat: Site the division is led from.
        departments: Its departments, largest first.
    """

    name: str
    share: float
    seat: str
    departments: tuple[Department, ...]


@dataclass(frozen=True)
class SkillDef:
    """A reverse-mentoring skill.

    Attributes:
        code: Stable code, e.g. ``AI-TOOLS``.
        name: English name.
        name_de: German name.
        category: Technology, ways of working, or culture & diversity.
        digital: How much the level follows a person's digital fluency (0–1).
        leadership: How much the level follows leadership experience (0–1).
    """

    code: str
    name: str
    name_de: str
    category: SkillCategory
    digital: float
    leadership: float


_DE_MALE = (
    "Alexander", "Andreas", "Benedikt", "Björn", "Christian", "Daniel", "David", "Dennis",
    "Dieter", "Dominik", "Elias", "Fabian", "Felix", "Finn", "Florian", "Frank", "Jan",
    "Jannik", "Jonas", "Jörg", "Julian", "Jürgen", "Kai", "Klaus", "Lars", "Leon", "Lukas",
    "Markus", "Martin", "Matthias", "Maximilian", "Michael", "Moritz", "Niklas", "Oliver",
    "Patrick", "Paul", "Philipp", "Ralf", "Sebastian", "Simon", "Stefan", "Sven", "Thomas",
    "Tim", "Tobias", "Uwe", "Wolfgang",
)  # fmt: skip
_DE_FEMALE = (
    "Andrea", "Anja", "Anna", "Annika", "Birgit", "Carina", "Charlotte", "Christina",
    "Claudia", "Clara", "Emma", "Franziska", "Hannah", "Heike", "Jana", "Johanna", "Julia",
    "Katharina", "Kerstin", "Laura", "Lea", "Lena", "Lisa", "Luisa", "Maren", "Marie",
    "Melanie", "Miriam", "Nicole", "Petra", "Sabine", "Sandra", "Sarah", "Sophie",
    "Stefanie", "Susanne", "Svenja", "Tanja", "Theresa", "Ute", "Vanessa",
)  # fmt: skip
_DE_FAMILY = (
    "Albrecht", "Arnold", "Bauer", "Baumann", "Beck", "Becker", "Berger", "Bergmann",
    "Böhm", "Brandt", "Braun", "Busch", "Dietrich", "Engel", "Fischer", "Frank", "Franke",
    "Friedrich", "Fuchs", "Graf", "Groß", "Günther", "Haas", "Hahn", "Hartmann", "Heinrich",
    "Herrmann", "Hoffmann", "Hofmann", "Horn", "Huber", "Jäger", "Jung", "Kaiser", "Keller",
    "Klein", "Koch", "Köhler", "König", "Krämer", "Kraus", "Krause", "Krüger", "Kuhn",
    "Lang", "Lange", "Lehmann", "Lorenz", "Ludwig", "Maier", "Mayer", "Meier", "Meyer",
    "Möller", "Müller", "Neumann", "Otto", "Peters", "Pfeiffer", "Pohl", "Richter", "Roth",
    "Sauer", "Schäfer", "Schmid", "Schmidt", "Schmitt", "Schmitz", "Schneider", "Scholz",
    "Schreiber", "Schröder", "Schubert", "Schulte", "Schulz", "Schulze", "Schumacher",
    "Schuster", "Schwarz", "Seidel", "Sommer", "Stein", "Vogel", "Vogt", "Voigt", "Wagner",
    "Walter", "Weber", "Weiß", "Werner", "Winkler", "Winter", "Wolf", "Wolff", "Zimmermann",
    "Ziegler",
)  # fmt: skip
_AT_FAMILY = (
    "Aigner", "Bauer", "Berger", "Brunner", "Eder", "Fischer", "Fuchs", "Gruber", "Haider",
    "Hofer", "Huber", "Lechner", "Leitner", "Maier", "Mayr", "Moser", "Pichler", "Reiter",
    "Schwarz", "Steiner", "Wagner", "Wallner", "Weber", "Wimmer", "Wolf", "Winkler",
)  # fmt: skip
_CH_FAMILY = (
    "Baumann", "Bühler", "Brunner", "Frei", "Gerber", "Graf", "Huber", "Keller", "Kunz",
    "Lüthi", "Meier", "Meyer", "Moser", "Müller", "Schmid", "Schneider", "Steiner",
    "Suter", "Weber", "Widmer", "Wyss", "Zürcher", "Zimmermann",
)  # fmt: skip

CULTURES: dict[str, Culture] = {
    "de": Culture(_DE_MALE, _DE_FEMALE, _DE_FAMILY, "de"),
    "at": Culture(_DE_MALE, _DE_FEMALE, _AT_FAMILY, "de"),
    "ch": Culture(_DE_MALE, _DE_FEMALE, _CH_FAMILY, "de"),
    "tr": Culture(
        ("Ahmet", "Ali", "Burak", "Can", "Deniz", "Emre", "Hakan", "Hasan", "Kerem", "Mehmet",
         "Murat", "Mustafa", "Onur", "Serkan", "Yusuf", "Cem", "Tolga"),
        ("Aylin", "Ayşe", "Büşra", "Derya", "Elif", "Emine", "Esra", "Gül", "Melike", "Merve",
         "Özlem", "Selin", "Sevgi", "Zeynep", "Ebru", "Dilara"),
        ("Aksoy", "Arslan", "Aslan", "Aydın", "Çelik", "Çetin", "Demir", "Doğan", "Erdem",
         "Kaya", "Kılıç", "Koç", "Korkmaz", "Kurt", "Özdemir", "Özkan", "Öztürk", "Polat",
         "Şahin", "Şimşek", "Yıldırım", "Yıldız", "Yılmaz", "Yücel"),
        "tr",
    ),
    "pl": Culture(
        ("Adam", "Andrzej", "Bartosz", "Jakub", "Kamil", "Krzysztof", "Łukasz", "Marcin",
         "Mateusz", "Michał", "Paweł", "Piotr", "Szymon", "Tomasz", "Wojciech", "Grzegorz"),
        ("Agnieszka", "Aleksandra", "Anna", "Ewa", "Joanna", "Julia", "Karolina", "Katarzyna",
         "Magdalena", "Małgorzata", "Marta", "Monika", "Natalia", "Weronika", "Zofia"),
        ("Dąbrowski", "Grabowski", "Jabłoński", "Jankowski", "Kamiński", "Kowalczyk",
         "Kowalski", "Kozłowski", "Krawczyk", "Król", "Kwiatkowski", "Lewandowski", "Majewski",
         "Mazur", "Michalski", "Nowak", "Nowakowski", "Pawłowski", "Piotrowski", "Szymański",
         "Wieczorek", "Wiśniewski", "Wójcik", "Woźniak", "Wróbel", "Zieliński"),
        "pl",
        feminine_suffix=True,
    ),
    "it": Culture(
        ("Alessandro", "Andrea", "Davide", "Federico", "Francesco", "Giuseppe", "Lorenzo",
         "Luca", "Marco", "Matteo", "Simone", "Stefano", "Riccardo"),
        ("Alessia", "Chiara", "Elena", "Federica", "Francesca", "Giorgia", "Giulia", "Martina",
         "Sara", "Silvia", "Valentina", "Beatrice"),
        ("Barbieri", "Bianchi", "Bruno", "Caruso", "Colombo", "Conti", "Costa", "De Luca",
         "Esposito", "Ferrari", "Fontana", "Gallo", "Giordano", "Greco", "Lombardi", "Mancini",
         "Mariani", "Marino", "Moretti", "Ricci", "Rinaldi", "Rizzo", "Romano", "Rossi",
         "Russo", "Santoro"),
        "it",
    ),
    "es": Culture(
        ("Adrián", "Alejandro", "Álvaro", "Carlos", "Daniel", "David", "Javier", "Jordi",
         "Jorge", "José", "Manuel", "Marc", "Miguel", "Pablo", "Pau", "Sergio"),
        ("Alba", "Ana", "Andrea", "Carmen", "Cristina", "Elena", "Irene", "Laura", "Lucía",
         "María", "Marta", "Montserrat", "Núria", "Paula", "Sara"),
        ("Álvarez", "Díaz", "Fernández", "Ferrer", "Font", "García", "Gómez", "González",
         "Hernández", "Jiménez", "López", "Martín", "Martínez", "Moreno", "Muñoz", "Navarro",
         "Pérez", "Puig", "Roca", "Rodríguez", "Romero", "Ruiz", "Sánchez", "Serra", "Soler",
         "Torres", "Vidal"),
        "es",
        double_family=0.55,
    ),
    "fr": Culture(
        ("Alexandre", "Antoine", "François", "Guillaume", "Hugo", "Julien", "Lucas", "Mathieu",
         "Maxime", "Nicolas", "Pierre", "Sébastien", "Théo", "Thomas"),
        ("Aurélie", "Camille", "Céline", "Chloé", "Claire", "Élodie", "Émilie", "Inès", "Julie",
         "Léa", "Manon", "Marie", "Pauline", "Sarah"),
        ("André", "Bernard", "Bertrand", "Blanc", "Bonnet", "Chevalier", "David", "Dubois",
         "Dupont", "Durand", "Faure", "Fournier", "Girard", "Guérin", "Lambert", "Laurent",
         "Lefèvre", "Leroy", "Martin", "Mercier", "Michel", "Moreau", "Morel", "Petit",
         "Richard", "Robert", "Rousseau", "Roux", "Simon", "Vincent"),
        "fr",
    ),
    "in": Culture(
        ("Aarav", "Aditya", "Amit", "Ankit", "Arjun", "Karthik", "Nikhil", "Omkar", "Pranav",
         "Rahul", "Rajesh", "Rohan", "Sameer", "Sandeep", "Saurabh", "Siddharth", "Tejas",
         "Vikram", "Vivek"),
        ("Aishwarya", "Anjali", "Ananya", "Deepika", "Divya", "Isha", "Kavya", "Meera", "Neha",
         "Pooja", "Priya", "Rutuja", "Sayali", "Shruti", "Sneha", "Swati"),
        ("Agarwal", "Banerjee", "Bhosale", "Chatterjee", "Deshmukh", "Deshpande", "Gokhale",
         "Gupta", "Iyer", "Jadhav", "Joshi", "Kapoor", "Kulkarni", "Malhotra", "Mehta",
         "Menon", "Nair", "Patel", "Patil", "Pawar", "Pillai", "Rao", "Reddy", "Shah",
         "Sharma", "Shinde", "Singh", "Verma"),
        "hi",
    ),
    "cn": Culture(
        ("Bo", "Hao", "Haoran", "Jianguo", "Jie", "Jun", "Lei", "Ming", "Qiang", "Tao", "Wei",
         "Yang", "Yi", "Yuxuan", "Zhiwei", "Zihao"),
        ("Fang", "Hui", "Jing", "Lan", "Mei", "Min", "Na", "Ruoxi", "Shu", "Xiaoli", "Xinyi",
         "Yan", "Ying", "Yutong"),
        ("Chen", "Gao", "Guo", "He", "Hu", "Huang", "Li", "Liang", "Lin", "Liu", "Luo", "Ma",
         "Song", "Sun", "Tang", "Wang", "Wu", "Xie", "Xu", "Yang", "Zhang", "Zhao", "Zheng",
         "Zhou", "Zhu"),
        "zh",
    ),
    "vn": Culture(
        ("Anh", "Bảo", "Đức", "Hùng", "Huy", "Khoa", "Long", "Minh", "Nam", "Quang", "Thành",
         "Tuấn"),
        ("Hà", "Hương", "Lan", "Linh", "Mai", "My", "Ngọc", "Phương", "Thảo", "Thu", "Trang",
         "Vy"),
        ("Bùi", "Đặng", "Đỗ", "Dương", "Hồ", "Hoàng", "Huỳnh", "Lê", "Lý", "Ngô", "Nguyễn",
         "Phạm", "Phan", "Trần", "Võ", "Vũ"),
        "vi",
    ),
    "en": Culture(
        ("Andrew", "Benjamin", "Christopher", "Daniel", "David", "Ethan", "Harry", "Jack",
         "James", "John", "Matthew", "Michael", "Oliver", "Robert", "Ryan", "Tyler", "William"),
        ("Amy", "Ashley", "Charlotte", "Emily", "Emma", "Hannah", "Jennifer", "Jessica",
         "Lauren", "Mary", "Megan", "Olivia", "Rachel", "Sarah", "Sophie"),
        ("Adams", "Anderson", "Baker", "Brown", "Campbell", "Carter", "Clark", "Davis", "Evans",
         "Green", "Hall", "Harris", "Hill", "Jackson", "Johnson", "Jones", "Kelly", "King",
         "Lewis", "Miller", "Mitchell", "Moore", "Murphy", "Nelson", "O'Brien", "Phillips",
         "Roberts", "Scott", "Smith", "Sullivan", "Taylor", "Thomas", "Turner", "Walker",
         "White", "Williams", "Wilson", "Wright", "Young"),
        "en",
    ),
    "ng": Culture(
        ("Adebayo", "Babatunde", "Chinedu", "Chukwuemeka", "Emeka", "Ifeanyi", "Kelechi",
         "Obinna", "Oluwaseun", "Segun", "Tunde", "Uche"),
        ("Adaeze", "Amaka", "Blessing", "Chioma", "Folake", "Funmilayo", "Ifeoma", "Ngozi",
         "Nneka", "Oluwakemi", "Temitope", "Yetunde"),
        ("Adebayo", "Adeleke", "Adeyemi", "Afolabi", "Balogun", "Bello", "Chukwu", "Eze",
         "Ibrahim", "Nwosu", "Obi", "Ogunleye", "Okafor", "Okeke", "Okonkwo", "Okoro",
         "Oladipo", "Uzoma"),
        "en",
    ),
    "br": Culture(
        ("Bruno", "Caio", "Felipe", "Gabriel", "Gustavo", "João", "Leonardo", "Lucas",
         "Matheus", "Pedro", "Rafael", "Rodrigo", "Thiago", "Vinícius"),
        ("Aline", "Ana", "Beatriz", "Bianca", "Camila", "Carolina", "Fernanda", "Gabriela",
         "Juliana", "Larissa", "Letícia", "Luíza", "Maria", "Mariana"),
        ("Almeida", "Alves", "Araújo", "Barbosa", "Cardoso", "Carvalho", "Conceição", "Costa",
         "Dias", "Fernandes", "Ferreira", "Gomes", "Lima", "Lopes", "Martins", "Moreira",
         "Nascimento", "Oliveira", "Pereira", "Ribeiro", "Rocha", "Rodrigues", "Santos",
         "Silva", "Soares", "Souza", "Vieira"),
        "pt",
    ),
    "hr": Culture(
        ("Dario", "Ivan", "Josip", "Luka", "Marko", "Nikola", "Stjepan", "Tomislav", "Ante"),
        ("Ana", "Ivana", "Katarina", "Lucija", "Maja", "Marija", "Mirela", "Petra", "Tena"),
        ("Babić", "Božić", "Horvat", "Jurić", "Knežević", "Kovačević", "Marić", "Marković",
         "Matić", "Novak", "Pavlović", "Petrović", "Tomić", "Vuković"),
        "hr",
    ),
    "ar": Culture(
        ("Ahmad", "Bilal", "Hamza", "Karim", "Khaled", "Mohammed", "Omar", "Samir", "Tarek",
         "Youssef"),
        ("Amira", "Dina", "Fatima", "Hana", "Layla", "Leila", "Nour", "Rania", "Salma",
         "Yasmin"),
        ("Abbas", "Aziz", "Darwish", "Farah", "Haddad", "Hamdan", "Hassan", "Khalil", "Khoury",
         "Mansour", "Nasser", "Rahman", "Saleh", "Suleiman"),
        "ar",
    ),
}  # fmt: skip

_DE_MIX = (
    ("de", 72.0), ("tr", 7.0), ("pl", 4.0), ("it", 3.0), ("hr", 3.0), ("ar", 2.0),
    ("en", 2.0), ("in", 2.0), ("es", 1.5), ("vn", 1.0), ("fr", 1.0), ("cn", 1.0),
    ("ng", 0.5), ("br", 0.5),
)  # fmt: skip
_BERLIN_MIX = (
    ("de", 56.0), ("tr", 9.0), ("pl", 5.0), ("en", 5.0), ("in", 4.0), ("ar", 4.0),
    ("vn", 3.5), ("es", 3.0), ("it", 3.0), ("fr", 2.0), ("ng", 2.0), ("br", 1.5),
    ("cn", 1.5), ("hr", 1.0),
)  # fmt: skip

_EN_DE: tuple[str, ...] = ("de", "en")

LOCATIONS: dict[str, Location] = {
    loc.name: loc
    for loc in (
        Location("Munich", "DE", "Europe/Berlin", _EN_DE, (("fr", 0.04), ("it", 0.03)),
                 _DE_MIX, 24.0, "Werkstudent"),
        Location("Berlin", "DE", "Europe/Berlin", _EN_DE, (("es", 0.04), ("fr", 0.04)),
                 _BERLIN_MIX, 9.0, "Werkstudent"),
        Location("Hamburg", "DE", "Europe/Berlin", _EN_DE, (("da", 0.02),), _DE_MIX, 7.0,
                 "Werkstudent"),
        Location("Stuttgart", "DE", "Europe/Berlin", _EN_DE, (("fr", 0.03),), _DE_MIX, 9.0,
                 "Werkstudent"),
        Location("Vienna", "AT", "Europe/Vienna", _EN_DE, (("hu", 0.03), ("cs", 0.02)),
                 (("at", 70.0), ("de", 8.0), ("tr", 6.0), ("hr", 6.0), ("pl", 3.0),
                  ("ar", 2.0), ("en", 2.0), ("it", 2.0), ("in", 1.0)), 4.0, "Werkstudent"),
        Location("Zurich", "CH", "Europe/Zurich", _EN_DE, (("fr", 0.3), ("it", 0.15)),
                 (("ch", 55.0), ("de", 15.0), ("it", 10.0), ("fr", 8.0), ("en", 5.0),
                  ("in", 3.0), ("hr", 2.0), ("br", 2.0)), 3.0, "Werkstudent"),
        Location("Warsaw", "PL", "Europe/Warsaw", ("pl", "en"), (("de", 0.1), ("uk", 0.05)),
                 (("pl", 88.0), ("en", 3.0), ("in", 3.0), ("de", 2.0), ("vn", 2.0),
                  ("ng", 1.0), ("es", 1.0)), 7.0, "Intern"),
        Location("Barcelona", "ES", "Europe/Madrid", ("es", "en"), (("ca", 0.5), ("fr", 0.08)),
                 (("es", 80.0), ("it", 5.0), ("fr", 4.0), ("en", 3.0), ("br", 3.0),
                  ("de", 3.0), ("in", 2.0)), 5.0, "Intern"),
        Location("Lyon", "FR", "Europe/Paris", ("fr", "en"), (("de", 0.06), ("it", 0.05)),
                 (("fr", 82.0), ("ar", 6.0), ("it", 4.0), ("es", 3.0), ("de", 2.0),
                  ("en", 2.0), ("vn", 1.0)), 4.0, "Intern"),
        Location("London", "GB", "Europe/London", ("en",), (("fr", 0.08), ("de", 0.05)),
                 (("en", 60.0), ("in", 12.0), ("ng", 6.0), ("pl", 5.0), ("cn", 3.0),
                  ("it", 3.0), ("fr", 3.0), ("es", 3.0), ("ar", 3.0), ("tr", 1.0)), 4.0,
                 "Intern"),
        Location("Pune", "IN", "Asia/Kolkata", ("en", "hi"), (("mr", 0.5),),
                 (("in", 97.0), ("en", 2.0), ("de", 1.0)), 10.0, "Intern"),
        Location("Shanghai", "CN", "Asia/Shanghai", ("zh", "en"), (("de", 0.05),),
                 (("cn", 94.0), ("de", 3.0), ("en", 2.0), ("in", 1.0)), 6.0, "Intern"),
        Location("Chicago", "US", "America/Chicago", ("en",), (("es", 0.15), ("pl", 0.04)),
                 (("en", 60.0), ("es", 15.0), ("in", 7.0), ("pl", 6.0), ("cn", 4.0),
                  ("ng", 3.0), ("it", 3.0), ("vn", 2.0), ("de", 2.0), ("ar", 2.0)), 6.0,
                 "Intern"),
        Location("São Paulo", "BR", "America/Sao_Paulo", ("pt", "en"), (("es", 0.2),),
                 (("br", 90.0), ("it", 3.0), ("de", 3.0), ("en", 2.0), ("es", 2.0)), 4.0,
                 "Intern"),
    )
}  # fmt: skip

DIVISIONS: tuple[Division, ...] = (
    Division("Technology", 0.20, "Munich", (
        Department("Software Engineering", 0.40,
                   ("Software Engineer", "Backend Developer", "Frontend Developer",
                    "DevOps Engineer", "QA Engineer", "Mobile Developer"),
                   ("Platform", "Customer Portal", "Mobile Apps", "Integration",
                    "Test Automation", "Embedded Software", "Developer Experience"),
                   (("Munich", 4.0), ("Berlin", 4.0), ("Pune", 4.0), ("Warsaw", 3.0),
                    ("Barcelona", 1.0)), digital=1.0, principal=True),
        Department("IT", 0.30,
                   ("IT Systems Engineer", "IT Support Specialist", "Cloud Engineer",
                    "SAP Consultant", "Network Engineer"),
                   ("Workplace Services", "Cloud Infrastructure", "Service Desk", "SAP Basis",
                    "Networks", "Enterprise Applications"),
                   (("Munich", 5.0), ("Pune", 4.0), ("Warsaw", 3.0), ("Berlin", 1.0),
                    ("Chicago", 1.0)), digital=0.8, principal=True),
        Department("Data & Analytics", 0.18,
                   ("Data Analyst", "Data Engineer", "Data Scientist", "BI Developer"),
                   ("Business Intelligence", "Data Platform", "Advanced Analytics",
                    "Data Governance"),
                   (("Munich", 3.0), ("Berlin", 3.0), ("Pune", 2.0), ("Barcelona", 1.0),
                    ("London", 1.0)), digital=1.0, principal=True),
        Department("Information Security", 0.12,
                   ("Security Analyst", "Security Engineer", "IAM Specialist"),
                   ("Security Operations", "Identity & Access",
                    "Governance, Risk & Compliance"),
                   (("Munich", 3.0), ("Berlin", 1.0), ("Warsaw", 1.0), ("Pune", 1.0)),
                   digital=0.8, principal=True),
    )),
    Division("Research & Development", 0.15, "Munich", (
        Department("Mechanical Engineering", 0.40,
                   ("Mechanical Engineer", "Design Engineer", "Simulation Engineer",
                    "Test Engineer"),
                   ("Drive Systems", "Housings & Structures", "Simulation", "Test Bench"),
                   (("Stuttgart", 3.0), ("Munich", 2.0), ("Shanghai", 1.0), ("Pune", 1.0)),
                   digital=0.2, principal=True),
        Department("Electrical Engineering", 0.35,
                   ("Electrical Engineer", "Hardware Engineer", "Electronics Technician",
                    "Test Engineer"),
                   ("Power Electronics", "Sensors", "PCB Design", "EMC Lab"),
                   (("Munich", 3.0), ("Stuttgart", 2.0), ("Pune", 1.0), ("Shanghai", 1.0)),
                   digital=0.3, principal=True),
        Department("Systems Engineering", 0.25,
                   ("Systems Engineer", "Requirements Engineer", "Functional Safety Engineer"),
                   ("System Architecture", "Requirements", "Functional Safety",
                    "Homologation"),
                   (("Munich", 3.0), ("Stuttgart", 1.0), ("Berlin", 1.0)),
                   digital=0.4, principal=True),
    )),
    Division("Operations", 0.32, "Stuttgart", (
        Department("Manufacturing", 0.45,
                   ("Production Engineer", "Process Engineer", "Maintenance Technician",
                    "Production Planner", "Industrial Engineer", "Machine Operator"),
                   ("Assembly", "Machining", "Maintenance", "Production Planning",
                    "Lean & Process Excellence", "Plant Engineering", "Paint Shop"),
                   (("Stuttgart", 5.0), ("Shanghai", 4.0), ("Munich", 2.0), ("Chicago", 2.0),
                    ("São Paulo", 2.0), ("Warsaw", 1.0)), digital=-0.8),
        Department("Logistics", 0.25,
                   ("Logistics Coordinator", "Supply Chain Planner", "Warehouse Specialist",
                    "Transport Planner"),
                   ("Inbound Logistics", "Warehouse", "Distribution", "Supply Chain Planning",
                    "Customs & Trade"),
                   (("Hamburg", 4.0), ("Stuttgart", 2.0), ("Chicago", 2.0), ("Shanghai", 2.0),
                    ("São Paulo", 1.0), ("Warsaw", 1.0)), digital=-0.5),
        Department("Quality", 0.15,
                   ("Quality Engineer", "Quality Inspector", "Supplier Quality Engineer"),
                   ("Quality Assurance", "Supplier Quality", "Quality Lab"),
                   (("Stuttgart", 3.0), ("Shanghai", 2.0), ("Munich", 1.0), ("Chicago", 1.0),
                    ("São Paulo", 1.0)), digital=-0.3),
        Department("Procurement", 0.15,
                   ("Buyer", "Purchasing Specialist", "Strategic Buyer"),
                   ("Direct Materials", "Indirect Procurement", "Supplier Management"),
                   (("Munich", 3.0), ("Stuttgart", 2.0), ("Shanghai", 1.0), ("Warsaw", 1.0),
                    ("Pune", 1.0)), digital=-0.2),
    )),
    Division("Commercial", 0.22, "Munich", (
        Department("Sales", 0.40,
                   ("Account Manager", "Sales Representative", "Key Account Manager",
                    "Sales Engineer", "Inside Sales Representative"),
                   ("DACH Sales", "Western Europe Sales", "Central & Eastern Europe Sales",
                    "North America Sales", "APAC Sales", "Latin America Sales",
                    "Key Accounts", "Inside Sales"),
                   (("Munich", 3.0), ("Chicago", 3.0), ("Hamburg", 2.0), ("Vienna", 2.0),
                    ("Zurich", 2.0), ("Lyon", 2.0), ("London", 2.0), ("São Paulo", 2.0),
                    ("Shanghai", 2.0), ("Barcelona", 1.0), ("Warsaw", 1.0), ("Berlin", 1.0)),
                   digital=-0.1),
        Department("Customer Service", 0.28,
                   ("Customer Service Agent", "Service Specialist", "Field Service Technician",
                    "Technical Support Engineer"),
                   ("Customer Care DACH", "Customer Care International", "Technical Support",
                    "Field Service", "Complaints Management"),
                   (("Barcelona", 3.0), ("Warsaw", 3.0), ("Berlin", 2.0), ("Pune", 2.0),
                    ("Hamburg", 1.0), ("Chicago", 1.0), ("São Paulo", 1.0)), digital=0.0),
        Department("Marketing", 0.20,
                   ("Marketing Specialist", "Digital Marketing Specialist",
                    "Product Marketing Specialist", "Content Marketer",
                    "Social Media Specialist"),
                   ("Brand", "Digital Marketing", "Product Marketing", "Events",
                    "Content & Social"),
                   (("Munich", 3.0), ("Berlin", 2.0), ("Barcelona", 2.0), ("Lyon", 1.0),
                    ("London", 1.0), ("Chicago", 1.0)), digital=0.5),
        Department("Product Management", 0.12,
                   ("Product Manager", "Product Owner"),
                   ("Connected Products", "Core Products", "Services & Solutions"),
                   (("Munich", 3.0), ("Berlin", 2.0), ("Chicago", 1.0)), digital=0.6),
    )),
    Division("Corporate Functions", 0.11, "Munich", (
        Department("Finance", 0.40,
                   ("Accountant", "Financial Analyst", "Controller", "Tax Specialist",
                    "Treasury Analyst"),
                   ("Accounting", "Controlling", "Tax", "Treasury",
                    "Financial Planning & Analysis", "Accounts Payable"),
                   (("Munich", 4.0), ("Warsaw", 3.0), ("Pune", 2.0), ("Chicago", 1.0),
                    ("Shanghai", 1.0)), digital=0.0),
        Department("Human Resources", 0.28,
                   ("HR Business Partner", "HR Specialist", "Recruiter", "Payroll Specialist",
                    "Learning & Development Specialist"),
                   ("Talent Acquisition", "HR Operations", "Learning & Development",
                    "Compensation & Benefits", "HR Business Partnering"),
                   (("Munich", 4.0), ("Warsaw", 2.0), ("Stuttgart", 1.0), ("Pune", 1.0),
                    ("Chicago", 1.0)), digital=0.0),
        Department("Legal & Compliance", 0.16,
                   ("Legal Counsel", "Paralegal", "Compliance Specialist",
                    "Contract Specialist"),
                   ("Corporate Legal", "Compliance", "Contracts", "Data Protection"),
                   (("Munich", 4.0), ("Chicago", 1.0)), digital=-0.2),
        Department("Corporate Communications", 0.16,
                   ("Communications Specialist", "Internal Communications Specialist",
                    "Press Officer", "Content Editor"),
                   ("Internal Communications", "External Communications",
                    "Employer Branding"),
                   (("Munich", 3.0), ("Berlin", 1.0)), digital=0.4),
    )),
)  # fmt: skip

_T = SkillCategory.TECHNOLOGY
_W = SkillCategory.WAYS_OF_WORKING
_C = SkillCategory.CULTURE_DIVERSITY

SKILLS: tuple[SkillDef, ...] = (
    SkillDef("AI-TOOLS", "AI tools & generative AI", "KI-Werkzeuge & generative KI", _T, 1.0, 0.0),
    SkillDef("SOCIAL-MEDIA", "Social media", "Social Media", _T, 1.0, 0.0),
    SkillDef("COLLAB-TOOLS", "Collaboration tools", "Kollaborationswerkzeuge", _T, 0.9, 0.0),
    SkillDef("DATA-LITERACY", "Data literacy", "Datenkompetenz", _T, 0.7, 0.1),
    SkillDef("CYBER-HYGIENE", "Cybersecurity hygiene", "Cyber-Sicherheit im Alltag", _T, 0.6, 0.1),
    SkillDef("LOW-CODE", "Low-code & automation", "Low-Code & Automatisierung", _T, 0.9, 0.0),
    SkillDef("AGILE", "Agile ways of working", "Agiles Arbeiten", _W, 0.6, 0.2),
    SkillDef("HYBRID-WORK", "Remote & hybrid work", "Remote- & hybrides Arbeiten", _W, 0.6, 0.1),
    SkillDef("FEEDBACK", "Feedback culture", "Feedbackkultur", _W, 0.3, 0.4),
    SkillDef("GEN-Z", "Gen-Z expectations", "Erwartungen der Generation Z", _W, 0.9, 0.0),
    SkillDef("DIGITAL-LEADERSHIP", "Digital leadership", "Digitale Führung", _W, 0.3, 0.6),
    SkillDef("DEI", "Diversity & inclusion", "Diversität & Inklusion", _C, 0.4, 0.1),
    SkillDef("INCLUSIVE-LEADERSHIP", "Inclusive leadership", "Inklusive Führung", _C, 0.1, 0.8),
    SkillDef("SUSTAINABILITY", "Sustainability", "Nachhaltigkeit", _C, 0.4, 0.2),
    SkillDef("INTERCULTURAL", "Intercultural collaboration", "Interkulturelle Zusammenarbeit",
             _C, 0.2, 0.4),
    SkillDef("WELLBEING", "Mental health & wellbeing", "Mentale Gesundheit & Wohlbefinden", _C,
             0.4, 0.2),
)  # fmt: skip
